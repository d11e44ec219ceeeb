// The orchestration checklist as the VSCode extension's own client library sees it.
//
// Two socket.io-client 4.8 clients (one over WebSocket, as the extension connects; one held to
// long-polling) and one raw WebSocket client are connected to the hub at once. Workspace A is
// named by a package name, workspace B by a path. Run by tests/test_socketio.py with HUB_URL and
// HUB_KEY (an API key: the hub runs with loopback trust off). Prints one line per passed check;
// exits non-zero with the reason on the first failure.
"use strict";

const assert = require("node:assert/strict");
const { io } = require("socket.io-client");
const WebSocket = require("ws");

const HUB = process.env.HUB_URL;
const KEY = process.env.HUB_KEY;
const A = "@acme/widgets";
const B = "/Users/alice/my-repo";
const TIMEOUT_MS = 10000;

class Recorder {
  constructor(name) {
    this.name = name;
    this.events = [];
    this.since = 0;
  }

  // Later waits look only at what arrives from now on.
  mark() {
    this.since = this.events.length;
  }

  record(event, data) {
    this.events.push({ event, data });
  }

  // The first event since the mark named `event` whose data satisfies `matches`.
  async next(event, matches = () => true) {
    const deadline = Date.now() + TIMEOUT_MS;
    while (Date.now() < deadline) {
      const found = this.events.slice(this.since).find((frame) => frame.event === event && matches(frame.data));
      if (found) return found.data;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`${this.name}: no ${event} matching ${matches} within ${TIMEOUT_MS} ms`);
  }

  all(event) {
    return this.events.filter((frame) => frame.event === event).map((frame) => frame.data);
  }
}

function socketioClient(name, transports, auth = { token: KEY }) {
  const recorder = new Recorder(name);
  const socket = io(HUB, { path: "/orchestration", transports, auth, reconnection: false });
  socket.onAny((event, data) => recorder.record(event, data));
  socket.on("disconnect", (reason) => recorder.record("disconnect", { reason }));
  return {
    recorder,
    socket,
    emit: (event, data) => socket.emit(event, data),
    connected: () =>
      new Promise((resolve, reject) => {
        socket.on("connect", resolve);
        socket.on("connect_error", reject);
      }),
  };
}

function rawClient(name) {
  const recorder = new Recorder(name);
  const ws = new WebSocket(HUB.replace(/^http/, "ws") + "/orchestration", {
    headers: { Authorization: `Bearer ${KEY}` },
  });
  ws.on("message", (text) => {
    const frame = JSON.parse(text.toString());
    recorder.record(frame.event, frame.data);
  });
  ws.on("close", (code) => recorder.record("disconnect", { code }));
  return {
    recorder,
    socket: ws,
    emit: (event, data) => ws.send(JSON.stringify({ event, data })),
    connected: () => new Promise((resolve, reject) => ws.on("open", resolve).on("error", reject)),
  };
}

async function rest(method, path, body) {
  const response = await fetch(HUB + "/api/orchestration" + path, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const workspacePath = (id) => "/workspace/" + encodeURIComponent(id);
const setDesired = (id, desired) => rest("PUT", workspacePath(id) + "/desired", { desired });
const setRunning = (id, running) => rest("PUT", workspacePath(id) + "/running", { running });

function mark(clients) {
  for (const client of clients) client.recorder.mark();
}

async function subscribe(client, workspaceId, expectedId = workspaceId) {
  client.recorder.mark();
  client.emit("subscribe", { workspaceId });
  assert.deepEqual(await client.recorder.next("subscribed"), { workspaceId: expectedId });
  const current = await client.recorder.next("orchestration.workspace");
  assert.equal(current.workspaceId, expectedId);
  assert.equal(current.workspace_id, expectedId);
}

async function everyClientSees(clients, matches) {
  for (const client of clients) await client.recorder.next("orchestration.global", matches);
}

function ok(line) {
  console.log("ok " + line);
}

async function main() {
  const onA = socketioClient("socket.io A (websocket)", ["websocket", "polling"]);
  const onB = socketioClient("socket.io B (polling)", ["polling"]);
  const raw = rawClient("raw websocket");
  const everyone = [onA, onB, raw];
  await Promise.all(everyone.map((client) => client.connected()));
  assert.equal(onA.socket.io.engine.transport.name, "websocket");
  assert.equal(onB.socket.io.engine.transport.name, "polling");
  for (const client of everyone) {
    await client.recorder.next("orchestration.global");
    assert.equal(client.recorder.events[0].event, "orchestration.global", `${client.recorder.name} starts with the totals`);
  }
  ok("three clients connected; each got the global totals first");

  await subscribe(onA, A);
  await subscribe(onB, B + "/", B);
  await subscribe(raw, A);
  await subscribe(raw, B);
  ok("subscribed by package name and by path (normalised)");

  mark(everyone);
  // 1. Workspace A desired 3, workspace B desired 2: every client sees global desired 5.
  assert.equal((await setDesired(A, 3)).status, 200);
  assert.equal((await setDesired(B, 2)).status, 200);
  await everyClientSees(everyone, (data) => data.desired === 5);
  ok("checklist 1: every client sees global desired 5");

  mark(everyone);
  // 2. An agent starts in A: A's subscribers see A running 1; every client sees global running 1.
  assert.equal((await setRunning(A, 1)).status, 200);
  for (const client of [onA, raw]) {
    const workspace = await client.recorder.next("orchestration.workspace", (data) => data.running === 1);
    assert.deepEqual(
      { workspaceId: workspace.workspaceId, workspace_id: workspace.workspace_id, desired: workspace.desired },
      { workspaceId: A, workspace_id: A, desired: 3 },
    );
  }
  await everyClientSees(everyone, (data) => data.running === 1 && data.desired === 5);
  ok("checklist 2: A's subscribers see A running 1; every client sees global running 1");

  mark(everyone);
  // 3. An agent starts in B: clients subscribed to A and to B both see global running 2.
  assert.equal((await setRunning(B, 1)).status, 200);
  await everyClientSees(everyone, (data) => data.running === 2);
  await onB.recorder.next("orchestration.workspace", (data) => data.workspaceId === B && data.running === 1);
  ok("checklist 3: subscribers of A and of B see global running 2");

  mark(everyone);
  // 4. A desired 5: every client sees global desired 7.
  assert.equal((await setDesired(A, 5)).status, 200);
  await everyClientSees(everyone, (data) => data.desired === 7 && data.running === 2);
  ok("checklist 4: every client sees global desired 7");

  for (const client of everyone) {
    const versions = client.recorder.all("orchestration.global").map((data) => data.version);
    assert.deepEqual(versions, [...versions].sort((x, y) => x - y), `${client.recorder.name}: versions only grow`);
    assert.equal(new Set(versions).size, versions.length, `${client.recorder.name}: no duplicate frame`);
  }
  assert.deepEqual(onB.recorder.all("orchestration.workspace").filter((data) => data.workspaceId === A), []);
  ok("versions only grow; B's subscriber never got A's workspace events");

  for (const client of [onA, raw]) {
    client.recorder.mark();
    client.emit("subscribeProjects", { projectNumbers: [7, 9] });
    assert.deepEqual(await client.recorder.next("subscribedProjects"), { projectNumbers: [7, 9] });
  }
  ok("subscribeProjects is answered with subscribedProjects on both kinds of socket");

  onA.recorder.mark();
  onA.emit("dance", { workspaceId: A });
  assert.match((await onA.recorder.next("error")).message, /unknown event 'dance'/);
  onA.recorder.mark();
  onA.emit("subscribe", {});
  assert.match((await onA.recorder.next("error")).message, /^workspaceId: /);
  onA.recorder.mark();
  onA.emit("subscribe", { workspaceId: "x".repeat(512 * 1024) });
  assert.equal((await onA.recorder.next("error")).message, "workspaceId: must be at most 1024 characters.");
  await subscribe(onA, "still usable");
  assert.equal(onA.socket.connected, true);
  assert.deepEqual(onA.recorder.all("disconnect"), []);
  ok("bad input over Socket.IO gets error and the connection stays usable");

  const refused = await rest("PUT", workspacePath(A) + "/desired", { desired: 99 });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.message, refused.body.detail);
  ok("an error body carries the reason under message");

  for (const [auth, reason] of [
    [{ token: "not-a-key" }, "Invalid API key."],
    [{}, "Authentication required: send auth.token."],
  ]) {
    const stranger = socketioClient("stranger", ["websocket"], auth);
    await assert.rejects(stranger.connected(), (error) => error.message === reason);
    stranger.socket.close();
  }
  ok("a wrong or missing auth.token is refused with connect_error");

  onA.socket.close();
  onB.socket.close();
  raw.socket.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error.stack || String(error));
    process.exit(1);
  },
);

// socket.io-client 4.8 (the VSCode extension's client library) across a restart of the hub.
//
// One client over WebSocket, one held to long-polling and one that upgrades from long-polling to
// WebSocket, with automatic reconnection as the
// extension has it (shorter delays, to keep the test fast). Every connect, disconnect (with its
// reason) and orchestration.global event is printed as one JSON line, for
// tests/test_socketio_stop.py to read. Runs until its standard input closes.
"use strict";

const { io } = require("socket.io-client");

const HUB = process.env.HUB_URL;

function report(client, event, data) {
  process.stdout.write(JSON.stringify({ client, event, data }) + "\n");
}

const sockets = [
  ["node websocket", ["websocket"]],
  ["node polling", ["polling"]],
  ["node upgraded", ["polling", "websocket"]], // socket.io-client's default: polling, then WebSocket
].map(([name, transports]) => {
  const socket = io(HUB, {
    path: "/orchestration",
    transports,
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    randomizationFactor: 0,
  });
  socket.io.on("open", () => socket.io.engine.on("upgrade", (transport) => report(name, "upgrade", transport.name)));
  socket.on("connect", () => report(name, "connect", socket.io.engine.transport.name));
  socket.on("disconnect", (reason) => report(name, "disconnect", reason));
  socket.on("orchestration.global", (data) => report(name, "orchestration.global", data));
  return socket;
});

process.stdin.resume();
process.stdin.on("end", () => {
  for (const socket of sockets) socket.close();
  process.exit(0);
});

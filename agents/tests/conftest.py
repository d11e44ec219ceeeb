from agents.tests.dag_support import dag_agent, event_log  # noqa: F401
from agents.tests.runner_support import clis, fake_agent, fake_model, node, project, slow_clis, slow_model  # noqa: F401

"""Who may talk to the hub: API keys and loopback trust, allowed hosts and origins, CORS."""

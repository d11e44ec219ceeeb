"""What the tests share and production code never imports: socket clients of the hub and the
OpenAPI response checker."""

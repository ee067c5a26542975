"""Text chat and MCP front doors to the same gRPC tools the voice gateway uses."""

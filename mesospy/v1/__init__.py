"""Generated protobuf and gRPC code for the mesospy wire contract (do not edit)."""

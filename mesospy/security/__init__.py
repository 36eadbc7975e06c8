"""Security: certificates for TLS (authentication and authorization come later)."""

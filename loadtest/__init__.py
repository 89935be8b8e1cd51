"""Black-box load against a running server, through the client SDK only (README.md)."""

"""AMK partner API: the HTTP client, and the request hashing it shares with the sandbox."""

// The public API of @app/client-credentials: everything users may import is exported here by name.
export {};

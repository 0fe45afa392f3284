"""AWS access: session and clients, API-model cache, error meanings, retries."""

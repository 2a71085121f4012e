"""Event contracts, one module per publishing service. The only thing services share."""

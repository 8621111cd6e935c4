"""Model adapters behind the one ``Provider`` protocol (see ``base``) and the registry that builds them."""

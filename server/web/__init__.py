"""HTTP edges that belong to no one feature: health, static files, request bodies."""

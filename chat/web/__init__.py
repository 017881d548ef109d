"""HTTP: pages, forms, URLs, health and metrics endpoints, over the same domain services."""

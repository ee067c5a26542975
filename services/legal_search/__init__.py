"""legal_search: municipal norms of Buenos Aires province — SQL metadata, Whoosh full text, stats, ingest."""

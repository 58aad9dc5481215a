"""Generated results: rows stored as Parquet, their pages, summaries and retention."""

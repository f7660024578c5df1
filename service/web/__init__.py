"""The pages people use: search, read, add documents, see the evaluation; no CDN, no build step."""

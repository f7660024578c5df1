"""Embeddings, FAISS persistence, index builds and search over them."""

"""What can be deployed and what it costs: the model catalog, price tables, tokenizers."""

"""The model side of training: tokenizer, tiny base model, loading of any causal LM and adapters."""

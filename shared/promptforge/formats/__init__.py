"""Drop-in batch APIs: other services' batch formats as views over PromptForge jobs.

``openai_batch`` (Files + Batches) and ``anthropic_batch`` (Message Batches) translate their
requests into a job (``common``) whose lines may each name a model (``LineRoute``), and the
job's status and outcomes back into their own objects; ``files`` keeps uploaded files on
the blob store. Each module lists its operations; ``api.routes`` registers them.
"""

"""The customer's voice in the quality store: evaluations (every rating that reaches FieldQ), callbacks
and their policy, survey templates and survey links, complaints from every channel."""

"""What makes input safe to read and output safe to share: bounded reads of untrusted files, credentials masked."""

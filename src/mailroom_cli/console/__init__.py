"""The browser console: emails, executions, inboxes and replay, for the local stack and deployed ones."""

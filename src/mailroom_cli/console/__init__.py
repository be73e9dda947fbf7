"""The browser console's pieces that need no web framework: the state-machine graph."""

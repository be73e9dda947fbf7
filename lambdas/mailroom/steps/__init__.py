"""One module per state of the state machine (and the Starter): the domain side of each handler."""

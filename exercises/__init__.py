"""Exercise stubs: fill in every function that raises NotImplementedError, then run
`grade exercise-NN`."""

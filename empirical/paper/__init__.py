"""The paper's experiments as data: the grid of runs, the open conventions (readings), claims and their
verdicts, tables and plots. Commands call it; it calls the engine, measure and data."""

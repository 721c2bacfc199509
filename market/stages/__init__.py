"""The month as stages (docs/model.md section 8): one module per step, each plain functions
over the model's state and its RNG.

- ``calendar``   sites come online, opposition, shocks; the site pipeline's random draws.
- ``contracts``  expiries, recalls and notices, and signing contracts.
- ``auction``    the term and spot markets: orders, one clearing call per market, the index.
- ``settle``     bills, revenue, funding, opex, debt service, defaults; demand moves on.
- ``invest``     sellers start new sites.
- ``collect``    the month's row of the agents table.
- ``queries``    read-only views of the state the stages share (reserves, budgets, spare).

``ComputeMarket.step`` calls them in order; a stage reads and writes the model's arrays and
draws only from ``model.rng``.
"""

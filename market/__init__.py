"""compute-market: an agent-based simulator of the market for scarce AI compute.

Layout (each concept lives in one module):

- ``clearing``   uniform-price call auctions for many products at once (pure numpy).
- ``calendar``   month indices, real dates, notice periods.
- ``terms``      ``ContractTerms`` (immutable contract rules) and named templates.
- ``book``       ``ContractBook``: the vectorized ledger of every contract.
- ``hardware``   GPU generations and unit conversions (H100e, MW, $/H100e-hour).
- ``supply``     sites and the build-out pipeline.
- ``config``     typed configuration of a world (frozen dataclasses) and the default world.
- ``kinds``      the registry of party kinds (labs, owners, hyperscalers, neoclouds).
- ``products``   the product table (spot and term products) with one price index each.
- ``strategies`` registry of bidding strategies.
- ``agents``     thin Mesa agents: labs, owners, hyperscalers, neoclouds.
- ``model``      ``ComputeMarket``: builds the state, the monthly step order, the tables.
- ``stages``     the month's stages: calendar, contracts, auction, settle, invest, collect.
- ``metrics``    summary metrics over the output frames.
- ``scenarios``  TOML scenario files and their validation.
- ``ensemble``   a scenario over many seeds, and two scenarios compared on common seeds.
- ``cli``        the ``compute-market`` command.
"""

__version__ = "0.1.0"

# ``import market`` changes nothing in the process: the allocator setting of
# ``market._memory`` is made only where the project owns the process (the command line, sweep
# workers, benchmarks).

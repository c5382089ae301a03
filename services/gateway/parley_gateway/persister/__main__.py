"""`python -m parley_gateway.persister`: the same as `parley-persister`."""

from parley_gateway.persister.service import main

main()

"""eibench.tui"""

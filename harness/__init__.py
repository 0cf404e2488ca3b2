"""eibench.harness"""

"""eibench.server"""

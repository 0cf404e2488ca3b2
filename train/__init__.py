"""eibench.train"""

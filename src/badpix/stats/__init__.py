"""badpix.stats"""

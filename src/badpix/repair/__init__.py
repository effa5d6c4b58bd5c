"""badpix.repair"""

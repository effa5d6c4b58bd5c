"""badpix.engine"""

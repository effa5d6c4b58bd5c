"""badpix.report"""

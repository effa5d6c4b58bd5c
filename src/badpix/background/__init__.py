"""badpix.background"""

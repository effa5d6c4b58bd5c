"""badpix.detect"""

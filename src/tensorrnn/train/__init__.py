"""tensorrnn.train"""

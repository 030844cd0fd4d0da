"""tensorrnn.experiments"""

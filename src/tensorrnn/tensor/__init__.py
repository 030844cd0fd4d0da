"""tensorrnn.tensor"""

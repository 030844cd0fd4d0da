"""tensorrnn.data"""

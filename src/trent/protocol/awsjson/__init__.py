"""protocol/awsjson"""

"""rootoftrust"""

"""Agents that act in the live environment: the scripted expert and the episode recorder."""

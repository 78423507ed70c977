"""Proofroom: self-hosted client galleries for professional photographers."""

"""JSON schemas of the custom resources in deploy/k8s, which kubernetes-validate does not know:
only the fields that KEDA 2.x (keda.sh/v1alpha1) and the Prometheus Operator
(monitoring.coreos.com/v1) document, nothing else allowed; nested Kubernetes types (an HPA's
`behavior`) are validated by kubernetes-validate itself, in the tests."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def closed(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    """An object with only these properties."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
STRING_MAP: Schema = {"type": "object", "additionalProperties": STRING}
ANY_OBJECT: Schema = {"type": "object"}
METADATA = closed(
    {"name": STRING, "namespace": STRING, "labels": STRING_MAP, "annotations": STRING_MAP},
    ("name",),
)
LABEL_SELECTOR = closed(
    {
        "matchLabels": STRING_MAP,
        "matchExpressions": {"type": "array", "items": ANY_OBJECT},
    }
)


def resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return closed(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
        ("apiVersion", "kind", "metadata", "spec"),
    )


# The metadata keys that KEDA documents for the triggers used here (keda.sh/docs/2.x/scalers).
TRIGGER_METADATA: dict[str, frozenset[str]] = {
    "prometheus": frozenset(
        {
            "serverAddress",
            "query",
            "threshold",
            "activationThreshold",
            "namespace",
            "customHeaders",
            "ignoreNullValues",
            "queryParameters",
            "unsafeSsl",
            "timeout",
        }
    ),
}

_TRIGGER = {
    "type": "object",
    "properties": {
        "type": {"enum": sorted(TRIGGER_METADATA)},
        "name": STRING,
        "metadata": STRING_MAP,
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "useCachedMetrics": BOOLEAN,
        "authenticationRef": closed(
            {
                "name": STRING,
                "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
            },
            ("name",),
        ),
    },
    "required": ["type", "metadata"],
    "additionalProperties": False,
    "allOf": [
        {
            "if": {"properties": {"type": {"const": kind}}},
            "then": {
                "properties": {"metadata": {"propertyNames": {"enum": sorted(keys)}, **STRING_MAP}}
            },
        }
        for kind, keys in TRIGGER_METADATA.items()
    ],
}

SCALED_OBJECT = resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    closed(
        {
            "scaleTargetRef": closed(
                {
                    "apiVersion": STRING,
                    "kind": STRING,
                    "name": STRING,
                    "envSourceContainerName": STRING,
                },
                ("name",),
            ),
            "pollingInterval": INTEGER,
            "cooldownPeriod": INTEGER,
            "initialCooldownPeriod": INTEGER,
            "idleReplicaCount": INTEGER,
            "minReplicaCount": INTEGER,
            "maxReplicaCount": INTEGER,
            "fallback": closed(
                {"failureThreshold": INTEGER, "replicas": INTEGER, "behavior": STRING},
                ("failureThreshold", "replicas"),
            ),
            "advanced": closed(
                {
                    "restoreToOriginalReplicaCount": BOOLEAN,
                    "horizontalPodAutoscalerConfig": closed(
                        {"name": STRING, "behavior": ANY_OBJECT}
                    ),
                    "scalingModifiers": closed(
                        {
                            "formula": STRING,
                            "target": STRING,
                            "activationTarget": STRING,
                            "metricType": STRING,
                        }
                    ),
                }
            ),
            "triggers": {"type": "array", "minItems": 1, "items": _TRIGGER},
        },
        ("scaleTargetRef", "triggers"),
    ),
)

_ENDPOINT = closed(
    {
        "port": STRING,
        "targetPort": {"type": ["string", "integer"]},
        "path": STRING,
        "scheme": {"enum": ["http", "https"]},
        "params": ANY_OBJECT,
        "interval": {"type": "string", "pattern": r"^(0|(\d+(ms|s|m|h))+)$"},
        "scrapeTimeout": {"type": "string", "pattern": r"^(0|(\d+(ms|s|m|h))+)$"},
        "honorLabels": BOOLEAN,
        "honorTimestamps": BOOLEAN,
        "relabelings": {"type": "array", "items": ANY_OBJECT},
        "metricRelabelings": {"type": "array", "items": ANY_OBJECT},
        "tlsConfig": ANY_OBJECT,
        "bearerTokenSecret": ANY_OBJECT,
        "authorization": ANY_OBJECT,
        "basicAuth": ANY_OBJECT,
        "oauth2": ANY_OBJECT,
        "followRedirects": BOOLEAN,
        "enableHttp2": BOOLEAN,
        "filterRunning": BOOLEAN,
        "proxyUrl": STRING,
    }
)
SERVICE_MONITOR = resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    closed(
        {
            "jobLabel": STRING,
            "targetLabels": {"type": "array", "items": STRING},
            "podTargetLabels": {"type": "array", "items": STRING},
            "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
            "selector": LABEL_SELECTOR,
            "namespaceSelector": closed(
                {"any": BOOLEAN, "matchNames": {"type": "array", "items": STRING}}
            ),
            "sampleLimit": INTEGER,
            "targetLimit": INTEGER,
            "labelLimit": INTEGER,
            "labelNameLengthLimit": INTEGER,
            "labelValueLengthLimit": INTEGER,
            "attachMetadata": closed({"node": BOOLEAN}),
        },
        ("endpoints", "selector"),
    ),
)

SCHEMAS: dict[tuple[str, str], Schema] = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
}
